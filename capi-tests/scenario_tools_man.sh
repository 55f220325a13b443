#!/bin/sh
# The installed manual pages: each renders with man(1) and groff without a
# single warning, has the usual sections, and documents every option the
# program's own usage text lists.
#
#   sh scenario_tools_man.sh PREFIX WORKDIR
set -u
PREFIX=$1
W=$2
MAN=$PREFIX/share/man

ok() { echo "PASS tools_man/$1"; }
bad() { echo "FAIL tools_man/$1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

if ! command -v groff > /dev/null || ! command -v man > /dev/null; then
	bad "groff_and_man_installed (tools/deps.sh installs man-db and groff-base)"
	exit 0
fi

for page in dc_server.1 dc_client.1 dc_snoop.1 dc_test.1 escrowd.8 distcache.8; do
	sec=${page##*.}
	f=$MAN/man$sec/$page
	check "$page/installed" '[ -f "$f" ]'
	[ -f "$f" ] || continue
	groff -man -Tutf8 -ww -z "$f" > /dev/null 2> "$W/$page.groff"
	check "$page/groff_no_warnings" '[ $? -eq 0 ] && [ ! -s "$W/$page.groff" ]'
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" > "$W/$page.txt" 2> "$W/$page.man"
	check "$page/man_renders_without_warnings" '[ $? -eq 0 ] && [ ! -s "$W/$page.man" ] && [ -s "$W/$page.txt" ]'
	sed 's/^/    /' "$W/$page.groff" "$W/$page.man" | head -10
	for s in NAME DESCRIPTION "SEE ALSO"; do
		check "$page/section_$(echo "$s" | tr ' ' _)" 'grep -q "^$s\$" "$W/$page.txt"'
	done
	tool=${page%.*}
	if [ -x "$PREFIX/bin/$tool" ]; then
		check "$page/synopsis_and_exit_status" 'grep -q "^SYNOPSIS$" "$W/$page.txt" && grep -q "^EXIT STATUS$" "$W/$page.txt"'
		# Every option of the usage text appears in the page (the page is
		# rendered with plain hyphens; man may hyphenate long words, so
		# search the unfilled source too).
		missing=""
		for opt in $("$PREFIX/bin/$tool" -h 2>&1 | sed -n 's/^ *\(-[a-z?-]*\).*/\1/p'); do
			pat=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
			grep -q -- "$opt" "$W/$page.txt" || grep -q -- "$pat" "$f" || missing="$missing $opt"
		done
		check "$page/documents_every_option${missing:+ (missing:$missing)}" '[ -z "$missing" ]'
	fi
done
check dc_server.1/expiry_floor_for_apache 'grep -q "expiry-floor" "$W/dc_server.1.txt" && grep -q "^APACHE$" "$W/dc_server.1.txt" && grep -q SSLSessionCacheTimeout "$MAN/man1/dc_server.1"'
names_all_tools() {
	for t in dc_server dc_client dc_snoop dc_test; do grep -q "$t(1)" "$W/distcache.8.txt" || return 1; done
}
check distcache.8/names_all_tools names_all_tools
exit 0
