"""KCM's closed loop for every modality: the core (`core`), its routers (`routers`) and the per-seed
artifacts (`writer`). Modalities plug in as adapters of `core.Task` (kcm.tasks)."""
