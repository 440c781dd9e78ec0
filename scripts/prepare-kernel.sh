#!/usr/bin/env bash
# Prepare Debian's linux-source-6.12 for kmeminit: unpack, configure the memory-hotplug /
# ZONE_DEVICE options, build the objects the rules look at, and write compile_commands.json.
# Usage: [ARCH=arm64|riscv|powerpc] scripts/prepare-kernel.sh DIR
#   (the tree ends up in DIR/linux-source-6.12).  ARCH other than the host's cross-builds
#   with Debian's cross gcc (installed when missing, as root); give each architecture its
#   own DIR: a tree configured for another architecture is refused, never reconfigured.
set -euo pipefail
dir=${1:?usage: [ARCH=arm64|riscv|powerpc] scripts/prepare-kernel.sh DIR}
jobs=${JOBS:-$(nproc)}
tarball=/usr/src/linux-source-6.12.tar.xz
# kbuild's ARCH, the CROSS_COMPILE prefix, its Debian package, the defconfig target
case "${ARCH:-}" in
  "" | x86 | x86_64) arch=x86 cross="" cross_pkg="" defconfig=defconfig ;;
  arm64 | aarch64) arch=arm64 cross=aarch64-linux-gnu- cross_pkg=gcc-aarch64-linux-gnu \
                   defconfig=defconfig ;;
  riscv | riscv64) arch=riscv cross=riscv64-linux-gnu- cross_pkg=gcc-riscv64-linux-gnu \
                   defconfig=defconfig ;;
  powerpc | ppc64le) arch=powerpc cross=powerpc64le-linux-gnu- \
                     cross_pkg=gcc-powerpc64le-linux-gnu defconfig=ppc64le_defconfig ;;
  *) echo "prepare-kernel.sh: ARCH=$ARCH is not one of x86, arm64, riscv, powerpc" >&2; exit 2 ;;
esac
# the host build keeps kbuild's own defaults (ARCH=x86 alone would pick i386_defconfig)
kmake=(make)
[ -z "$cross" ] || kmake=(make ARCH="$arch" CROSS_COMPILE="$cross")
packages=()
[ -f "$tarball" ] || packages+=(linux-source-6.12 build-essential flex bison bc libelf-dev \
  libssl-dev xz-utils cpio kmod dwarves rsync)
[ -z "$cross" ] || command -v "${cross}gcc" >/dev/null || packages+=("$cross_pkg")
if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
  else
    echo "prepare-kernel.sh: missing ${packages[*]}; install them (as root)" >&2
    exit 2
  fi
fi
mkdir -p "$dir"
tree="$dir/linux-source-6.12"
[ -d "$tree" ] || tar -xJf "$tarball" -C "$dir"
cd "$tree"
# .config starts with "# Linux/<arch> <version> Kernel Configuration"
configured=$(sed -n 's|^# Linux/\([a-z0-9_]*\) .*|\1|p;3q' .config 2>/dev/null || true)
if [ -n "$configured" ] && [ "$configured" != "$arch" ]; then
  echo "prepare-kernel.sh: $tree is configured for $configured, not $arch;" \
       "give ARCH=$arch its own DIR" >&2
  exit 2
fi
[ -f .config ] || "${kmake[@]}" -s "$defconfig"
scripts/config -e TRANSPARENT_HUGEPAGE -e MEMORY_HOTPLUG -e MEMORY_HOTREMOVE -e SPARSEMEM_VMEMMAP \
  -e ZONE_DEVICE -e DEVICE_PRIVATE -e FS_DAX -e DAX -e DEV_DAX -e DEV_DAX_KMEM -e DEV_DAX_PMEM \
  -e LIBNVDIMM -e BLK_DEV_PMEM -e X86_PMEM_LEGACY -e ACPI_NFIT -e NVDIMM_PFN -e NVDIMM_DAX -e BTT \
  -e HMM_MIRROR -m TEST_HMM -e PAGE_OWNER -e MEMORY_FAILURE -e HWPOISON_INJECT -e PROC_PAGE_MONITOR \
  -e COMPACTION -e DEFERRED_STRUCT_PAGE_INIT -e MHP_MEMMAP_ON_MEMORY
"${kmake[@]}" -s olddefconfig
"${kmake[@]}" -s -j"$jobs" prepare
# -k: a few objects outside the slice may fail to build; their .cmd files are simply absent.
"${kmake[@]}" -s -j"$jobs" -k mm/ drivers/dax/ drivers/nvdimm/ "arch/$arch/mm/" fs/proc/ \
  drivers/base/ lib/test_hmm.o kernel/resource.o || true
python3 scripts/clang-tools/gen_compile_commands.py -d . -o compile_commands.json
echo "prepared: $tree ($arch, $(python3 -c 'import json,sys;print(len(json.load(open(sys.argv[1]))))' compile_commands.json) compile commands)"
