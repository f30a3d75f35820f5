"""One module per service a node (or a cloud service standing in for one) runs, each building its Service
definitions from the files `dataplane/` rendered and offering the `start(layout, sup)` step that brings it up.
sandbox.cluster composes them in boot order."""
