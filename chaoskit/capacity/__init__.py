"""``chaoskit capacity``: the highest load (or worst fault intensity) at which
an experiment's hypotheses hold, found by short real runs on services started
once (issue 18).

``steps`` (one level as an experiment), ``search`` (ramp, bisect, confirm),
``measure`` (a step judged), ``result`` (the search's answer), ``render``
(report.json, capacity.csv, capacity.svg, report.html), ``session`` (the
command: services up once, the searches, the reports).
"""
