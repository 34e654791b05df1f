"""The control lane: each case posted as its own JSON with the standard library.

No generator is involved, so this lane passing proves the suite's loop and its
expectation (what the emulator should store) are right; a generator lane that
fails where this one passes failed because of its generated client.
"""

from __future__ import annotations

from driver import main, post_json

if __name__ == "__main__":
    main(post_json)
