// Nursery: fixed layout at the bottom of the space reservation.
#include "space/Nursery.h"

#include <stdexcept>

namespace space {

Nursery::Nursery(Reservation& reservation, size_t edenBytes, size_t survivorBytes) {
  edenBytes = Reservation::roundUpToPage(edenBytes);
  survivorBytes = Reservation::roundUpToPage(survivorBytes);
  size_t total = edenBytes + 2 * survivorBytes;
  if (total >= reservation.size()) throw std::runtime_error("nursery larger than the space");
  start_ = reservation.base();
  end_ = start_ + total;
  reservation.commit(start_, total);
  reservation.adviseHugePages(start_, total);
  eden = {start_, start_, start_ + edenBytes};
  survivors_[0] = {eden.end, eden.end, eden.end + survivorBytes};
  survivors_[1] = {survivors_[0].end, survivors_[0].end, survivors_[0].end + survivorBytes};
}

}  // namespace space
