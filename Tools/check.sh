#!/usr/bin/env bash
# The tests, as CI runs them. First two readings of the tree, a second each:
# no folder of Sources/Stoa uses one above it (Tools/layers.py) and no raw
# system call outside Sources/Stoa/System/ (Tools/raw_syscalls.py). Then the
# whole suite (with the power-loss model, the crash-matrix slice and every fuzz
# seed and finding), then ThreadSanitizer over the concurrency suites (group
# commit, the store, close, maintenance, the logger, follow, the active index,
# checkpoints, the change feed), then the documentation (Tools/docs.sh: DocC
# with warnings as errors, and every public symbol documented).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 Tools/layers.py
python3 Tools/raw_syscalls.py
swift test
Tools/sanitize.sh thread --filter 'GroupCommitTests|StoreTests|CloseTests|MaintenanceTests|EventLoggerTests|FollowTests|FollowStressTests|FollowCLITests|ActiveIndexTests|CheckpointTests|ChangeFeedTests|ProtectedTests'
Tools/docs.sh
