enum _PlaceholderAuthdCore {}
