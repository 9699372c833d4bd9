"""Low-level text checks shared by personas, conversations and datasets: word overlap and the contamination
guard that keeps instrument wording out of training text. Imports nothing from the stage packages."""
