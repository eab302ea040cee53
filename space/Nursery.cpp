// Nursery: fixed layout at the bottom of the space reservation.
#include "space/Nursery.h"

#include <algorithm>
#include <stdexcept>

namespace space {

Nursery::Nursery(Reservation& reservation, size_t edenBytes, size_t initialEdenBytes, size_t survivorBytes) {
  edenBytes = Reservation::roundUpToPage(edenBytes);
  survivorBytes = Reservation::roundUpToPage(survivorBytes);
  size_t total = edenBytes + 2 * survivorBytes;
  if (total >= reservation.size()) throw std::runtime_error("nursery larger than the space");
  start_ = reservation.base();
  end_ = start_ + total;
  reservation.commit(start_, total);
  // Huge pages for eden only: it is filled completely between scavenges, so whole 2 MiB
  // pages cost no extra memory there, while a survivor space is only partly used and a
  // huge page would make all of it resident.
  reservation.adviseHugePages(start_, edenBytes);
  edenCapacity_ = edenBytes;
  initialEdenBytes = std::min(Reservation::roundUpToPage(initialEdenBytes), edenBytes);
  eden = {start_, start_, start_ + initialEdenBytes};
  uintptr_t survivorStart = start_ + edenBytes;
  survivors_[0] = {survivorStart, survivorStart, survivorStart + survivorBytes};
  survivors_[1] = {survivors_[0].end, survivors_[0].end, survivors_[0].end + survivorBytes};
}

void Nursery::setEdenLimit(size_t bytes, Reservation& reservation) {
  bytes = std::min(Reservation::roundUpToPage(bytes), edenCapacity_);
  uintptr_t newEnd = eden.start + bytes;
  if (newEnd < eden.end) reservation.releasePages(newEnd, eden.end - newEnd);
  eden.end = newEnd;
}

void Nursery::restoreState(const State& s) {
  if (s.edenStart != eden.start || s.edenTop < s.edenStart || s.edenTop > s.edenEnd || s.edenEnd < s.edenStart ||
      s.edenEnd > eden.start + edenCapacity_ || (s.fromIndex != 0 && s.fromIndex != 1) ||
      s.survivorStart != survivors_[s.fromIndex].start || s.survivorTop < s.survivorStart ||
      s.survivorTop > survivors_[s.fromIndex].end) {
    throw std::invalid_argument("the nursery's recorded state does not fit its layout");
  }
  fromIndex_ = s.fromIndex;
  eden.top = s.edenTop;
  eden.end = s.edenEnd;
  fromSurvivor().top = s.survivorTop;
  toSurvivor().top = toSurvivor().start;
}

size_t Nursery::releaseUnusedPages(Reservation& reservation) {
  size_t released = 0;
  auto release = [&](uintptr_t from, uintptr_t to) {
    from = Reservation::roundUpToPage(from);
    if (to > from) {
      reservation.releasePages(from, to - from);
      released += to - from;
    }
  };
  release(eden.top, eden.end);
  release(toSurvivor().top, toSurvivor().end);
  release(fromSurvivor().top, fromSurvivor().end);
  return released;
}

}  // namespace space
