enum _PlaceholderAuthdClient {}
