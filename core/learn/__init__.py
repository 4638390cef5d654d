"""What baton learns from the person in the loop: lessons from their feedback, and which model each step
may use from what they accepted. Pure functions over recorded events; the store's side is in
`sessions.lessons` and `sessions.routes`."""
