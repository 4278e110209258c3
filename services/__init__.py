"""TrialWatch's services (intake, evaluator, audit) and the ``trialwatch`` command line."""
