#!/usr/bin/env bash
# Checks that lower layers never include higher ones (docs/ARCHITECTURE in README).
# Order, lowest first: lib < crypto < core < registry < transport < ctl < node|os < store < io < app
set -euo pipefail
cd "$(dirname "$0")/../src"
rank() {
	case "$1" in
	lib) echo 0 ;; crypto) echo 1 ;; core) echo 2 ;; registry) echo 3 ;; transport) echo 3 ;; ctl) echo 4 ;;
	node) echo 5 ;; os) echo 5 ;; store) echo 6 ;; io) echo 7 ;; app) echo 8 ;; *) echo 99 ;;
	esac
}
bad=0
for f in $(find . -name '*.[ch]'); do
	layer=$(echo "$f" | cut -d/ -f2)
	r=$(rank "$layer")
	while read -r inc; do
		dep=$(echo "$inc" | cut -d/ -f1)
		[ "$dep" = "$layer" ] && continue
		# io.h (the I/O interface) is shared by node and io implementations.
		[ "$inc" = "io/io.h" ] && [ "$layer" = "node" ] && continue
		if [ "$(rank "$dep")" -gt "$r" ]; then
			echo "layer violation: $f includes $inc"
			bad=1
		fi
	done < <(grep -oE '#include "[a-z_]+/[a-z_/]+\.h"' "$f" | sed 's/#include "//; s/"$//')
done
[ $bad -eq 0 ] && echo "layers ok"
exit $bad
