"""The primitives a criterion's logic is built from; each returns a Kleene truth value."""
