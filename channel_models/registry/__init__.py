"""Model registry, the pure side: signed artifacts, the Active model set and each kind's
learning-phase status. The package imports nothing itself, so the status half loads without skops.

No database here - ``services/store/model_versions.py`` keeps the rows (artifact bytes, HMAC,
library versions, metrics, training window) and ``services/store/frames/data_facts.py`` fills
``DataFacts``.

* ``artifacts`` - skops serialisation, HMAC-SHA256 checked before parsing, and a type allow-list
  checked on dump and on load.
* ``model_set`` - the Active model of each kind, as the planner uses them.
* ``model_status`` - Learning / Active / Alert, what is still needed, and whether a kind may decide
  (``StatusReport.decides``: a model in Learning never decides; an Alert model keeps deciding
  unless its quality fell).
"""
