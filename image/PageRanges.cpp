// PageRanges: see PageRanges.h.
#include "image/PageRanges.h"

#include <algorithm>

namespace image {

std::vector<PageRange> normalizedRanges(std::vector<PageRange> ranges) {
  std::erase_if(ranges, [](const PageRange& r) { return r.end <= r.start; });
  std::sort(ranges.begin(), ranges.end(), [](const PageRange& x, const PageRange& y) { return x.start < y.start; });
  std::vector<PageRange> merged;
  for (const PageRange& r : ranges) {
    if (!merged.empty() && r.start <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, r.end);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

std::vector<PageRange> rangesMinus(const std::vector<PageRange>& a, const std::vector<PageRange>& b) {
  std::vector<PageRange> out;
  size_t j = 0;
  for (PageRange r : a) {
    while (j < b.size() && b[j].end <= r.start) j++;
    for (size_t k = j; k < b.size() && b[k].start < r.end; k++) {
      if (b[k].start > r.start) out.push_back(PageRange{r.start, b[k].start});
      r.start = std::max(r.start, b[k].end);
      if (r.start >= r.end) break;
    }
    if (r.start < r.end) out.push_back(r);
  }
  return out;
}

std::vector<PageRange> rangesIntersection(const std::vector<PageRange>& a, const std::vector<PageRange>& b) {
  std::vector<PageRange> out;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    uintptr_t start = std::max(a[i].start, b[j].start);
    uintptr_t end = std::min(a[i].end, b[j].end);
    if (start < end) out.push_back(PageRange{start, end});
    if (a[i].end < b[j].end) {
      i++;
    } else {
      j++;
    }
  }
  return out;
}

}  // namespace image
