"""Business rules. Services take their dependencies in the constructor (wired in hudhud.app), call the store,
and ring the bus only after the transaction that made the change has committed."""
