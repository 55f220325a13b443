#!/bin/sh
# Fails when a tracked file refers to material outside the repository
# (the folder beside a checkout): a clone anywhere must build and test itself.
cd "$(dirname "$0")/.." || exit 1
hits=$(git grep -n -E '\.\./shared' -- . 2>/dev/null)
if [ -n "$hits" ]; then
	echo "self-contained: FAIL: tracked files refer to a folder outside the repository:"
	echo "$hits"
	exit 1
fi
echo "self-contained: ok (no tracked file refers outside the repository)"
