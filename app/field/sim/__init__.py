"""The plant simulator: the physical substation's stand-in (command ``gridtwin field-sim``)."""
