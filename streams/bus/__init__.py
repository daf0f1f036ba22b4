"""Bus operations: AVL fixes → route and trip matching → stop arrivals → headways, bunching → ETA predictions."""
