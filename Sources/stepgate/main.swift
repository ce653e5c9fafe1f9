print("stepgate")
