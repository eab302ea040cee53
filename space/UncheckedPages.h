// UncheckedPages: heap pages of a resumed image that stay unreadable (PROT_NONE) until
// their segment's checksum has passed (image/FirstTouchVerification.h). Code that changes
// the protection of heap pages itself — a snapshot's write-protection, an update's
// checkpoint — would make such a page readable unchecked, or have its own protection
// undone when the check passes: it waits here first. Checking a 1 GiB image takes well
// under a second, so only the first snapshot or update after a resume can wait.
#pragma once

namespace space {

// Called by a checker before it makes any page unreadable, and once every page it owns is
// readable again (or it stops).
void beginUncheckedPages();
void endUncheckedPages();

// Returns once no checker has unreadable pages. Not from a signal handler.
void awaitPagesChecked();

}  // namespace space
