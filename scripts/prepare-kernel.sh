#!/usr/bin/env bash
# Prepare Debian's linux-source-6.12 for kmeminit: unpack, configure the memory-hotplug /
# ZONE_DEVICE options, build the objects the rules look at, and write compile_commands.json.
#
# Usage: [ARCH=arm64|riscv|powerpc] [JOBS=N] [FULL=1] scripts/prepare-kernel.sh DIR
#   The tree ends up in DIR/linux-source-6.12 and its database in
#   DIR/linux-source-6.12/compile_commands.json (paths as you typed DIR, symlinks kept).
#   ARCH   other than the host's cross-builds with Debian's cross gcc (installed when missing,
#          as root); give each architecture its own DIR: a tree configured for another
#          architecture is refused, never reconfigured.
#   JOBS   parallel make jobs (default: the number of CPUs)
#   FULL=1 build the whole vmlinux, every built-in object (about 40 minutes on 2 cores);
#          by default only the memory slice is built (mm/, drivers/dax/, drivers/nvdimm/,
#          arch/$ARCH/mm/, fs/proc/, drivers/base/, lib/test_hmm.o, kernel/resource.o: about
#          4 minutes)
# Each step is announced with the time elapsed; make prints its usual one line per object
# (also kept in DIR/linux-source-6.12/.prepare-kernel.log).  A tree whose extraction was
# cut off is extracted again.  Exit status: 0 when every object built; 1 when some failed
# (they are listed, and the database is written without them); 2 when the setup failed.
set -euo pipefail
dir=${1:?usage: [ARCH=arm64|riscv|powerpc] [JOBS=N] [FULL=1] scripts/prepare-kernel.sh DIR}
jobs=${JOBS:-$(nproc)}
full=${FULL:-0}
tarball=/usr/src/linux-source-6.12.tar.xz
name=linux-source-6.12

say() { printf '[prepare-kernel %d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }
die() { say "error: $*"; exit 2; }

# kbuild's ARCH, the CROSS_COMPILE prefix, its Debian package, the defconfig target
case "${ARCH:-}" in
  "" | x86 | x86_64) arch=x86 cross="" cross_pkg="" defconfig=defconfig ;;
  arm64 | aarch64) arch=arm64 cross=aarch64-linux-gnu- cross_pkg=gcc-aarch64-linux-gnu \
                   defconfig=defconfig ;;
  riscv | riscv64) arch=riscv cross=riscv64-linux-gnu- cross_pkg=gcc-riscv64-linux-gnu \
                   defconfig=defconfig ;;
  powerpc | ppc64le) arch=powerpc cross=powerpc64le-linux-gnu- \
                     cross_pkg=gcc-powerpc64le-linux-gnu defconfig=ppc64le_defconfig ;;
  *) die "ARCH=$ARCH is not one of x86, arm64, riscv, powerpc" ;;
esac
# the host build keeps kbuild's own defaults (ARCH=x86 alone would pick i386_defconfig)
kmake=(make)
[ -z "$cross" ] || kmake=(make ARCH="$arch" CROSS_COMPILE="$cross")
packages=()
[ -f "$tarball" ] || packages+=(linux-source-6.12 build-essential flex bison bc libelf-dev \
  libssl-dev xz-utils cpio kmod dwarves rsync)
command -v python3 >/dev/null || packages+=(python3)
[ -z "$cross" ] || command -v "${cross}gcc" >/dev/null || packages+=("$cross_pkg")
if [ ${#packages[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${packages[*]}; install them (as root)"
  say "installing ${packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
mkdir -p "$dir"
tree="$dir/$name"
marker="$tree/.prepare-kernel-extracted"  # written once the whole tarball is unpacked
if [ -d "$tree" ] && [ ! -f "$marker" ]; then
  say "checking that the earlier extraction of $tree completed"
  missing=$(tar -tJf "$tarball" | while IFS= read -r member; do
              [ -e "$dir/$member" ] || [ -L "$dir/$member" ] || echo "$member"; done | wc -l)
  if [ "$missing" -gt 0 ]; then
    say "$missing files of the tarball are missing: extracting again"
    rm -rf "$tree"
  else
    touch "$marker"
  fi
fi
if [ ! -d "$tree" ]; then
  say "extracting $tarball into $dir"
  partial="$dir/.$name.partial"  # renamed only when complete: a cut-off run leaves no tree
  rm -rf "$partial"
  mkdir -p "$partial"
  tar -xJf "$tarball" -C "$partial"
  touch "$partial/$name/.prepare-kernel-extracted"
  mv "$partial/$name" "$tree"
  rmdir "$partial"
fi
cd "$tree"
logical=$(pwd -L)
real=$(pwd -P)
# .config starts with "# Linux/<arch> <version> Kernel Configuration"
configured=$(sed -n 's|^# Linux/\([a-z0-9_]*\) .*|\1|p;3q' .config 2>/dev/null || true)
if [ -n "$configured" ] && [ "$configured" != "$arch" ]; then
  die "$tree is configured for $configured, not $arch; give ARCH=$arch its own DIR"
fi
if [ ! -f .config ]; then
  say "configuring: $defconfig"
  "${kmake[@]}" -s "$defconfig"
fi
say "configuring: memory hotplug, ZONE_DEVICE, DAX, NVDIMM, HMM"
scripts/config -e TRANSPARENT_HUGEPAGE -e MEMORY_HOTPLUG -e MEMORY_HOTREMOVE -e SPARSEMEM_VMEMMAP \
  -e ZONE_DEVICE -e DEVICE_PRIVATE -e FS_DAX -e DAX -e DEV_DAX -e DEV_DAX_KMEM -e DEV_DAX_PMEM \
  -e LIBNVDIMM -e BLK_DEV_PMEM -e X86_PMEM_LEGACY -e ACPI_NFIT -e NVDIMM_PFN -e NVDIMM_DAX -e BTT \
  -e HMM_MIRROR -m TEST_HMM -e PAGE_OWNER -e MEMORY_FAILURE -e HWPOISON_INJECT -e PROC_PAGE_MONITOR \
  -e COMPACTION -e DEFERRED_STRUCT_PAGE_INIT -e MHP_MEMMAP_ON_MEMORY
"${kmake[@]}" -s olddefconfig
say "make prepare (generated headers)"
"${kmake[@]}" -s -j"$jobs" prepare
if [ "$full" = 1 ]; then
  targets=(vmlinux)
else
  targets=(mm/ drivers/dax/ drivers/nvdimm/ "arch/$arch/mm/" fs/proc/ drivers/base/ lib/test_hmm.o
           kernel/resource.o)
fi
log="$tree/.prepare-kernel.log"
say "building ${targets[*]} with $jobs jobs"
# -k: an object that fails to build is listed at the end, the others are still built
set +e
"${kmake[@]}" -k -j"$jobs" "${targets[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# kbuild's failure lines: make[3]: *** [scripts/Makefile.build:229: mm/foo.o] Error 1
mapfile -t failed < <(sed -nE 's/.*\*\*\* \[[^]]*:[0-9]+: ([^] ]+\.o)\] Error.*/\1/p' "$log" |
                      sort -u)
say "writing compile_commands.json"
python3 scripts/clang-tools/gen_compile_commands.py -d . -o compile_commands.json
if [ "$logical" != "$real" ]; then
  # gen_compile_commands.py resolves symlinks: give the paths back as the tree was reached
  python3 - "$real" "$logical" compile_commands.json <<'EOF'
import json
import sys

real, logical, path = sys.argv[1:]


def fix(text: str) -> str:
    return logical + text[len(real):] if text == real or text.startswith(real + "/") else \
        text.replace(real + "/", logical + "/")


with open(path) as f:
    entries = json.load(f)
for entry in entries:
    for key in ("directory", "file", "command", "output"):
        if key in entry:
            entry[key] = fix(entry[key])
    if "arguments" in entry:
        entry["arguments"] = [fix(a) for a in entry["arguments"]]
with open(path + ".tmp", "w") as f:
    json.dump(entries, f, indent=2)
    f.write("\n")
EOF
  mv compile_commands.json.tmp compile_commands.json
fi
count=$(python3 -c 'import json,sys;print(len(json.load(open(sys.argv[1]))))' compile_commands.json)
if [ "${#failed[@]}" -gt 0 ]; then
  say "${#failed[@]} objects failed to build (make's log: $log): ${failed[*]}"
  say "prepared with errors: $logical ($count compile commands, without those objects)"
  exit 1
fi
if [ "$status" -ne 0 ]; then
  say "make failed (exit $status) without an object failing; see $log"
  exit 1
fi
say "prepared: $logical ($arch, $count compile commands)"
