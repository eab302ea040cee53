// PageRanges: arithmetic on sets of page ranges, each a vector of disjoint PageRanges
// sorted by start — what a capture armed ahead of its pause needs to find the memory it
// must still protect, register or release (UffdProtection).
#pragma once

#include <vector>

#include "image/PageWriter.h"

namespace image {

// `ranges` sorted by start, adjacent or overlapping ones merged.
std::vector<PageRange> normalizedRanges(std::vector<PageRange> ranges);
// The parts of `a` outside `b` (both normalized).
std::vector<PageRange> rangesMinus(const std::vector<PageRange>& a, const std::vector<PageRange>& b);
// The parts of `a` inside `b` (both normalized).
std::vector<PageRange> rangesIntersection(const std::vector<PageRange>& a, const std::vector<PageRange>& b);

}  // namespace image
