"""lipnet: lip reading, and speech turned into mouth shapes. The `lipnet` command is `lipnet.__main__`."""
