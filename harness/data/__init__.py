"""Loading task data (Hub, local files, generators) into validated `datasets` splits."""
