"""KMI005 altmap-unsafe-container-of: a dev_pagemap recovered from an altmap that may not
live in one.

## What it finds

`container_of(altmap, struct dev_pagemap, altmap)` (or `container_of_const`, or the same
pointer arithmetic with `offsetof(struct dev_pagemap, altmap)`) where the origin analysis
finds that the `struct vmem_altmap *` can come from somewhere other than a dev_pagemap: a
standalone heap object (the kmemdup'd altmap of memmap_on_memory hotplug), a stack or global
object, or an altmap embedded in another struct.  Origins are followed through call
arguments, assignments, returns and struct fields (`struct mhp_params`, the altmap a
`struct memory_block` remembers).  The finding is at the recovery; its trace gives a witness
chain for each kind of origin, the ones outside a dev_pagemap first.

## Why it matters in the kernel

Since memmap_on_memory (5.15), memory hotplug builds altmaps of its own:
`create_altmaps_and_memory_blocks()` kmemdup()s a standalone `struct vmem_altmap` and hands
it down `add_memory_resource()` → `arch_add_memory()` → `__add_pages()` →
`sparse_add_section()` → vmemmap population, the same path ZONE_DEVICE uses with
`&pgmap->altmap`.  A helper on that path that assumes every altmap sits inside a dev_pagemap
and steps back to it reads `pgmap->vmemmap_shift`, `pgmap->ops`, ... from memory before the
start of a small kmalloc object: a type confusion that KASAN reports as a slab
out-of-bounds read and that otherwise yields garbage.

## Example

```c
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/memremap.h>

static unsigned long altmap_shift(struct vmem_altmap *altmap)
{
	struct dev_pagemap *pgmap = container_of(altmap, struct dev_pagemap, altmap);

	return pgmap->vmemmap_shift;
}

unsigned long device_shift(struct dev_pagemap *pgmap)
{
	return altmap_shift(&pgmap->altmap);
}

unsigned long hotplug_shift(struct vmem_altmap *tmpl)
{
	struct vmem_altmap *altmap = kmemdup(tmpl, sizeof(*tmpl), GFP_KERNEL);

	return altmap_shift(altmap);
}
```

## Fix

Pass what the helper needs (here the dev_pagemap, which the hotplug path does not have)
instead of recovering it:

```c
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/memremap.h>

static unsigned long pgmap_shift(struct dev_pagemap *pgmap)
{
	return pgmap ? pgmap->vmemmap_shift : 0;
}

unsigned long device_shift(struct dev_pagemap *pgmap)
{
	return pgmap_shift(pgmap);
}

unsigned long hotplug_shift(struct vmem_altmap *tmpl)
{
	return pgmap_shift(NULL);
}
```

## Known false positives

- The origin analysis is path-insensitive: a recovery guarded by a check that only
  dev_pagemap altmaps reach it (a flag the hotplug path never sets) is still reported.
- Struct fields are merged per record and field: a standalone altmap stored into
  `T.altmap` anywhere reaches every read of `T.altmap` through a pointer.
- An altmap whose origin is unknown (nothing in the analysed code flows into it) is not
  reported; analyse the callers' TUs too.

## Precision

High: a finding needs a concrete witness chain from a standalone (or foreign) altmap to the
recovery through the analysed code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from kmeminit.analyzer.config import Config
from kmeminit.analyzer.kernel import kernel_facts
from kmeminit.analyzer.kernel.altmap import origin_list, recoveries, recovery_origins, witness
from kmeminit.analyzer.model import Level
from kmeminit.analyzer.program import Program
from kmeminit.analyzer.results import Finding, Related


class AltmapUnsafeContainerOf:
    id: ClassVar[str] = "KMI005"
    name: ClassVar[str] = "altmap-unsafe-container-of"
    level = Level.ERROR
    precision: ClassVar[str] = "high"
    tags: ClassVar[tuple[str, ...]] = ("correctness", "memory-hotplug", "zone-device",
                                       "type-confusion")
    short: ClassVar[str] = ("A struct dev_pagemap is recovered from a struct vmem_altmap that "
                            "can originate outside a dev_pagemap.")
    full: ClassVar[str] = (
        "container_of(altmap, struct dev_pagemap, altmap) or equivalent offsetof arithmetic "
        "on an altmap that, on some call path, is standalone (kmemdup'd for "
        "memmap_on_memory hotplug, on the stack, global) or embedded in another struct: a "
        "type confusion that reads outside the altmap's object.")
    config_keys: ClassVar[tuple[str, ...]] = ()
    demand: ClassVar[tuple[str, ...]] = ("origins",)  # the prefilter families it needs

    def check(self, program: Program, config: Config) -> Iterator[Finding]:
        facts = kernel_facts(program, config)
        spec = facts.altmap
        engine = facts.origins(spec.pointer)
        for fn in sorted(program.functions.values(), key=lambda f: (f.file, f.line)):
            for rec in recoveries(fn, spec):
                origins = recovery_origins(engine, rec)
                bad = [o for o in sorted(origins) if spec.outside(o)]
                if not bad:
                    continue
                yield Finding.make(
                    self.id, self.level,
                    "{container} recovered from altmap '{expr}', which can originate outside "
                    "a {container}: {bad} (origins: {origins})",
                    rec.location, fn.name,
                    related=(Related(1, rec.location, "recovery site"),),
                    trace=witness(origins, bad) + (rec.step(spec),),
                    container=spec.container, expr=rec.expr,
                    bad=", ".join(str(o) for o in bad), origins=origin_list(origins))
