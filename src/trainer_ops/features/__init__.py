"""Feature toggles (spec section 2): global defaults, region overrides, effective values per region."""
