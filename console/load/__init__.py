"""Reading files into the model: YAML with line numbers, the native inventory, Ansible, redaction."""
