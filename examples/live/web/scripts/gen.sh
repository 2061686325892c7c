#!/bin/sh
# Makes /srv/www/table.html from /srv/www/data.txt ("name value" lines).
# Runs in the image build and, through live_update's run(), in the running
# container whenever data.txt or this script changes. A line "fail" makes it
# fail, to show how a failing run() looks.
set -e
www=/srv/www
if grep -qx fail "$www/data.txt"; then
	echo "gen.sh: data.txt asks to fail" >&2
	exit 1
fi
{
	echo "<!doctype html><table>"
	while read -r name value; do
		[ -n "$name" ] && echo "<tr><td>$name</td><td>$value</td></tr>"
	done < "$www/data.txt"
	echo "</table>"
} > "$www/table.html.tmp"
mv "$www/table.html.tmp" "$www/table.html"
echo "gen.sh: table.html has $(grep -c '<tr>' "$www/table.html") rows"
