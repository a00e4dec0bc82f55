"""Payload fuzzing: Hypothesis-generated valid and invalid payloads from a JSON Schema.

Modules, along the data flow:

* ``schema`` - a JSON Schema: its dialect, references (local files, never
  remote) and the jsonschema-rs validator every payload is checked with;
* ``documents`` - where a schema lives (a file, examples, an OpenAPI
  operation's request body, an AsyncAPI message) -> ``PayloadModel``;
* ``model`` - :class:`~chaoskit.fuzz.model.PayloadModel` (a schema and what
  generation dropped); ``examples`` - valid payloads -> an inferred schema;
* ``generate`` - valid values for the whole vocabulary, kept only if valid;
* ``rules`` - the :class:`~chaoskit.fuzz.rules.Rule` tags and the
  :class:`~chaoskit.fuzz.rules.Case` that carries one;
* ``strategies`` (with ``mutations``) - seeded Hypothesis strategies for valid
  cases and invalid ones, each one change to a valid payload, labelled with
  the rule of the keyword that rejects it;
* ``targets`` - every breakable keyword location of the schema and the
  payload that breaks it alone (refused by the schema, accepted by the schema
  without that keyword); ``coverage`` - which locations a run exercised;
* ``checks`` - what the answer to a case must be, and the protocol checks
  (unknown paths, CORS preflight);
* ``engine`` - the run: Hypothesis in a worker thread, bounded in examples and
  time, every target in turn then random cases, one shrunk finding per
  (check, status, error signature);
* ``curl``, ``findings`` - reproducible curl lines (secrets masked), the
  report directory's ``findings.json`` and its replay;
* ``tally`` - an ``invalid-payloads`` fault's requests by rule and outcome,
  kept apart from the load (the runner hands it to checks and reports);
* ``command`` - ``chaoskit fuzz``.

Importing the package imports nothing heavy: use the modules.
"""
