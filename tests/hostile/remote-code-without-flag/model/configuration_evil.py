open(__file__ + ".RAN", "w").write("ran")
