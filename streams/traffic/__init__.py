"""Road traffic: probe fixes → road links → link speeds per 5-minute bin."""
