"""The built-in rules, one module per rule: its decision and its documentation.

The engine loads this package by name (kmeminit.analyzer.rules): a rule is added here in
the same change that adds its module, in id order.
"""

from kmeminit.checkers.kmi001_online_before_init import OnlineBeforeInit
from kmeminit.checkers.kmi002_deferred_init_window import DeferredInitWindow
from kmeminit.checkers.kmi003_pfn_walker_uninit_memmap import PfnWalkerUninitMemmap
from kmeminit.checkers.kmi004_altmap_pgmap_proxy import AltmapPgmapProxy
from kmeminit.checkers.kmi005_altmap_unsafe_container_of import AltmapUnsafeContainerOf
from kmeminit.checkers.kmi006_pg_reserved_transition import PgReservedTransition
from kmeminit.checkers.kmi007_pg_reserved_reader import PgReservedReader

BUILTIN_CHECKERS: tuple[type, ...] = (
    OnlineBeforeInit,
    DeferredInitWindow,
    PfnWalkerUninitMemmap,
    AltmapPgmapProxy,
    AltmapUnsafeContainerOf,
    PgReservedTransition,
    PgReservedReader,
)

__all__ = ["BUILTIN_CHECKERS"]
