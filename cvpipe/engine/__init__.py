"""Training, checkpointing, distributed running and prediction for cvpipe's detection models.

The engine knows the data model (:mod:`cvpipe.data`), the registries and the hooks, never a file
format: datasets come in as :class:`cvpipe.data.Dataset`, detections go out the same way.

* :mod:`cvpipe.engine.data` — torch ``Dataset`` over a cvpipe dataset, collate, samplers;
* :mod:`cvpipe.engine.train` — the training loop (:func:`~cvpipe.engine.train.fit`);
* :mod:`cvpipe.engine.checkpoint` — self-describing checkpoints, loaded with ``weights_only=True``;
* :mod:`cvpipe.engine.distributed` — DistributedDataParallel under ``torchrun``;
* :mod:`cvpipe.engine.predict` — :func:`~cvpipe.engine.predict.predict_dataset`.
"""
