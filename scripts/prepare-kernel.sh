#!/usr/bin/env bash
# Prepare Debian's linux-source-6.12 for kmeminit: unpack, configure the memory-hotplug /
# ZONE_DEVICE options, build the objects the rules look at, and write compile_commands.json.
# Usage: scripts/prepare-kernel.sh DIR   (the tree ends up in DIR/linux-source-6.12)
set -euo pipefail
dir=${1:?usage: scripts/prepare-kernel.sh DIR}
jobs=${JOBS:-$(nproc)}
tarball=/usr/src/linux-source-6.12.tar.xz
if [ ! -f "$tarball" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      linux-source-6.12 build-essential flex bison bc libelf-dev libssl-dev xz-utils cpio kmod \
      dwarves rsync
  else
    echo "prepare-kernel.sh: $tarball missing; install linux-source-6.12 (as root)" >&2
    exit 2
  fi
fi
mkdir -p "$dir"
tree="$dir/linux-source-6.12"
[ -d "$tree" ] || tar -xJf "$tarball" -C "$dir"
cd "$tree"
[ -f .config ] || make -s defconfig
scripts/config -e TRANSPARENT_HUGEPAGE -e MEMORY_HOTPLUG -e MEMORY_HOTREMOVE -e SPARSEMEM_VMEMMAP \
  -e ZONE_DEVICE -e DEVICE_PRIVATE -e FS_DAX -e DAX -e DEV_DAX -e DEV_DAX_KMEM -e DEV_DAX_PMEM \
  -e LIBNVDIMM -e BLK_DEV_PMEM -e X86_PMEM_LEGACY -e ACPI_NFIT -e NVDIMM_PFN -e NVDIMM_DAX -e BTT \
  -e HMM_MIRROR -m TEST_HMM -e PAGE_OWNER -e MEMORY_FAILURE -e HWPOISON_INJECT -e PROC_PAGE_MONITOR \
  -e COMPACTION -e DEFERRED_STRUCT_PAGE_INIT -e MHP_MEMMAP_ON_MEMORY
make -s olddefconfig
make -s -j"$jobs" prepare
# -k: a few objects outside the slice may fail to build; their .cmd files are simply absent.
make -s -j"$jobs" -k mm/ drivers/dax/ drivers/nvdimm/ arch/x86/mm/ fs/proc/ drivers/base/ \
  lib/test_hmm.o kernel/resource.o || true
python3 scripts/clang-tools/gen_compile_commands.py -d . -o compile_commands.json
echo "prepared: $tree ($(python3 -c 'import json,sys;print(len(json.load(open(sys.argv[1]))))' compile_commands.json) compile commands)"
