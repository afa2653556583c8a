"""What to do to a processor: the plan (:mod:`.plan`, pure), the actions that carry each step
out and resolve lost replies by looking (:mod:`.actions`), and the runner that carries a plan
out step by step (:mod:`.runner`)."""
