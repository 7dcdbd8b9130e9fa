"""The Textual face of regtui: screens that show services' answers and call services to act."""
