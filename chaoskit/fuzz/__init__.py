"""Payload fuzzing: Hypothesis-generated valid and invalid payloads from a JSON Schema.

Modules, along the data flow:

* ``model`` - a JSON Schema file -> :class:`~chaoskit.fuzz.model.PayloadModel`
  (variants keyed on a ``const`` discriminator, types, ranges, enums);
* ``examples`` - valid example payloads -> the same ``PayloadModel``
  (types, required fields, enums, ranges, variants on a ``type`` field);
* ``rules`` - the :class:`~chaoskit.fuzz.rules.Rule` tags and the
  :class:`~chaoskit.fuzz.rules.Case` that carries one;
* ``strategies`` (with ``mutations``) - seeded Hypothesis strategies for valid
  cases and invalid ones, each made by breaking one rule of a valid payload;
* ``checks`` - what the answer to a case must be, and the protocol checks
  (unknown paths, CORS preflight);
* ``engine`` - the run: Hypothesis in a worker thread, bounded in examples and
  time, one shrunk finding per (check, status, error signature);
* ``curl``, ``findings`` - reproducible curl lines (secrets masked), the
  report directory's ``findings.json`` and its replay;
* ``tally`` - an ``invalid-payloads`` fault's requests by rule and outcome,
  kept apart from the load (the runner hands it to checks and reports);
* ``command`` - ``chaoskit fuzz``.

Importing the package imports nothing heavy: use the modules.
"""
