"""Error analysis and thresholds for detections against ground truth (``cvpipe evaluate --analyse``).

* :mod:`~cvpipe.analysis.matching`: COCO/TIDE matching over a whole dataset pair, vectorised;
* :mod:`~cvpipe.analysis.tide`: TIDE's error breakdown (counts and dAP of each error kind);
* :mod:`~cvpipe.analysis.thresholds`: per-class precision, recall and F1 at the F1-optimal confidence;
* :mod:`~cvpipe.analysis.report`: both at once (:func:`analyse`), as JSON and tables;
* :mod:`~cvpipe.analysis.plots`: F1-vs-confidence curves, the breakdown bar chart, galleries of
  the worst false positives and missed objects (matplotlib and OpenCV imported on use).

Datasets are cvpipe's (:class:`~cvpipe.data.Dataset`, boxes absolute pixel xyxy); numpy only.
"""
