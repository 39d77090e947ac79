"""What the forkserver that inspection workers fork from imports, once per run.

The tools' imports (pynwb, nwbinspector, dandi) are most of the cost of inspecting one changed
file. They make many objects and no garbage, so the cyclic collector is off while they load
(about 8% faster), and what the workers inherit is frozen out of later collections, which also
keeps those pages shared between the workers instead of copied. The archive's PublishedAsset
validator is compiled here too (~0.7 s with dandischema's JSON Schema), once for all workers.
"""

import gc

gc.disable()
try:
    import dandi.metadata.core
    import dandi.metadata.nwb
    import dandi.metadata.util
    import hdmf.build
    import hdmf.validate
    import nwbinspector
    import pynwb

    from publishkit.inspection import published_asset
    from publishkit.inspection import worker as inspect_worker

    published_asset.prepare()
finally:
    gc.enable()
gc.freeze()

__all__ = ["dandi", "hdmf", "inspect_worker", "nwbinspector", "published_asset", "pynwb"]
