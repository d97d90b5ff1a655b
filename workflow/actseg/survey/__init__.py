"""The labelling study of the supplement's Section A (Table 1): what a query costs a person.

- `forms`: the survey definition (`survey.json`): forms, questions, truth, assignment plan;
- `sampling`: regions grouped by their number of classes, drawn with a seed;
- `patches`: the image patch of a question with the region's red boundary;
- `plan`: which three of the six forms each participant answers;
- `build`: all of the above into a survey folder (`actseg survey build`);
- `store`: the SQLite answer store (participants and their tokens, answers);
- `answers`: validation of one submitted answer;
- `app` / `server`: the web application and its HTTP server (`actseg survey serve`);
- `table1`, `outliers`, `report`: Table 1 from the answers (`actseg survey report`).
"""
