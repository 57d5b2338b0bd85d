"""Sessions and memory behind one interface (:mod:`.base`): PostgreSQL in :mod:`.postgres`,
Amazon Bedrock AgentCore Memory in :mod:`.agentcore`, chosen by :mod:`.factory`; the long-term
facts the model keeps with its ``remember`` tool in :mod:`.facts`."""
