"""The scenario: its model, network model, expectations, road geometry and the built-in library."""
