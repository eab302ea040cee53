// Badge: a constructor-private token restricting a raw operation to one caller type.
#pragma once

namespace space {

template <class T>
class Badge {
  friend T;
  Badge() = default;
};

}  // namespace space
