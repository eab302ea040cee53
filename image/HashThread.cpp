// HashThread: see HashThread.h.
#include "image/HashThread.h"

#include <string>

namespace image {

HashThread::HashThread()
    : jobs_("snap-hash", [](const Job& job) {
        job.sha->add(job.data, job.n);
        return std::string();
      }) {}

}  // namespace image
