enum _PlaceholderAuthdServer {}
