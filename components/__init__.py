"""ComponentResources, one per role; one implementation per cloud under components/<cloud>/."""
