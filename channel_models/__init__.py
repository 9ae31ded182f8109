"""Channel models: pure decision code (no database, no web, no Temporal).

- ``vocabulary``: the one definition of channels, reasons, buckets, incentives and model kinds;
- ``context``, ``actions``: what the planner sees and decides, and the bandit's action space;
- ``policy``: the Policy protocol and the Planner facade ``plan_touch`` calls;
- ``compliance/``: hard masks (consent, capture, quiet hours, caps, rule packs, send window);
- ``rules/``: the cold-start prior (reasons, propensity, timing, rule policy, fixed flow, exploration);
- ``learning/``: features, the reward model, the learned policy, propensity and reason models, training;
- ``registry/``: artifacts, the Active model set and each kind's learning-phase status;
- ``simulator/``: synthetic shops with hidden ground truth, for entry points, benches and tests.

The package imports nothing itself, so importing ``channel_models.vocabulary`` (as the workflows
do) loads no model code.
"""
