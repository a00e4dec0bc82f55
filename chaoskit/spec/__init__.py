"""The experiment file: model (``model``), loading and validation.

``model`` owns the vocabulary (fault kinds, hypothesis kinds, metrics, phases).
"""
